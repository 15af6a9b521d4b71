"""The synthetic multi-domain re-ID benchmark (``dgreid synth``); see docs/synthetic.md."""

from __future__ import annotations

from dgreid.data.synth.domains import DOMAINS, DomainSpec, get_domain
from dgreid.data.synth.preview import render_preview
from dgreid.data.synth.writer import VERSION, ensure_benchmark, render_benchmark

__all__ = [
    "DOMAINS",
    "VERSION",
    "DomainSpec",
    "ensure_benchmark",
    "get_domain",
    "render_benchmark",
    "render_preview",
]
