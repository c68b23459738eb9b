"""Every method module registers itself on import (see ``diffrec_core.registry``)."""
import importlib

_MODULES = ["diffrec", "ldiffrec", "pop", "itemknn", "ease", "multvae", "diffurec", "dreamrec", "sasrec",
            "dcdr", "rerank_baselines", "lightgcn", "kgat", "diffkg"]

for _m in _MODULES:
    try:
        importlib.import_module(f"{__name__}.{_m}")
    except ModuleNotFoundError as e:  # a module not written yet must not break the others
        if e.name != f"{__name__}.{_m}":
            raise
