"""Monitoring (core): serving metrics, Prometheus text, input drift, evaluation, the canary SLO guard."""

from .monitor import Monitor

__all__ = ["Monitor"]
