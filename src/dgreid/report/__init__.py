"""Reports: CMC plots, comparison tables, and the self-contained HTML report of a run or demo."""
