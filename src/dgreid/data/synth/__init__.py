"""The synthetic multi-domain re-ID benchmark (``dgreid synth``); see docs/synthetic.md."""

from __future__ import annotations

from dgreid.data.synth.domains import DOMAINS, DomainSpec, domain_levels, get_domain
from dgreid.data.synth.preview import render_preview
from dgreid.data.synth.shifts import FAMILIES, VERSION, VERSIONS, ShiftLevels, parse_shifts
from dgreid.data.synth.writer import ensure_benchmark, read_manifest, render_benchmark

__all__ = [
    "DOMAINS",
    "FAMILIES",
    "VERSION",
    "VERSIONS",
    "DomainSpec",
    "ShiftLevels",
    "domain_levels",
    "ensure_benchmark",
    "get_domain",
    "parse_shifts",
    "read_manifest",
    "render_benchmark",
    "render_preview",
]
