"""Every method module registers itself on import (see ``diffrec_core.registry``)."""
import importlib

_MODULES = ["diffrec", "ldiffrec", "pop", "itemknn", "ease", "multvae", "diffurec", "dreamrec", "sasrec",
            "dcdr", "rerank_baselines", "lightgcn", "kgat", "diffkg"]

for _m in _MODULES:
    importlib.import_module(f"{__name__}.{_m}")
