"""Shared diffusion machinery: schedules, the one GaussianDiffusion, time embeddings."""
from .gaussian import DiffusionRun, GaussianDiffusion
from .schedules import PRESETS, SCHEDULES, ScheduleConfig, make_betas, schedule_arrays
from .timestep import sinusoid_cos_first, sinusoid_sin_first

__all__ = ["DiffusionRun", "GaussianDiffusion", "PRESETS", "SCHEDULES", "ScheduleConfig", "make_betas",
           "schedule_arrays", "sinusoid_cos_first", "sinusoid_sin_first"]
