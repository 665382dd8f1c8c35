"""Format benchmark results as a text or Markdown table."""

__all__ = ["format_table", "COLUMNS"]

#: (heading, function of a case result returning the cell text)
COLUMNS = (
    ("case", lambda r: r["name"]),
    ("train samples/s", lambda r: _number(r, "train", "best")),
    ("eval samples/s", lambda r: _number(r, "evaluate", "best")),
    ("peak RSS MiB", lambda r: _fixed(r.get("peak_rss_mib"), 0)),
    ("MFLOP/sample", lambda r: _fixed(_get(r, "flops_per_train_sample", "total"), 2, 1e-6)),
    ("GFLOP/s", lambda r: _fixed(r.get("train_gflops"), 1)),
    ("GEMM GFLOP/s", lambda r: _fixed(r.get("gemm_gflops"), 1)),
    ("% of GEMM", lambda r: _fixed(r.get("fraction_of_gemm"), 0, 100)),
    ("usual samples/s", lambda r: _number(r, "usual_train", "best")),
    ("speed-up", lambda r: _fixed(r.get("speedup_over_usual"), 1, suffix="x")),
)


def _get(result, *keys):
    value = result
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _fixed(value, digits, scale=1.0, suffix=""):
    return "-" if value is None else f"{value * scale:,.{digits}f}{suffix}"


def _number(result, *keys):
    value = _get(result, *keys)
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def format_table(results, markdown=False):
    """Return the table of ``results`` (case dicts of :func:`run_benchmarks`) as text.

    A case that failed shows its error in place of the numbers.
    """
    headings = [heading for heading, _ in COLUMNS]
    rows = []
    for result in results:
        if "error" in result:
            rows.append([result.get("name", "?"), f"failed: {result['error']}"]
                        + [""] * (len(COLUMNS) - 2))
        else:
            rows.append([cell(result) for _, cell in COLUMNS])
    if markdown:
        lines = ["| " + " | ".join(headings) + " |",
                 "| " + " | ".join(["---"] + ["---:"] * (len(headings) - 1)) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(headings)]
    widths = [min(w, 60) for w in widths]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(headings, widths)))]
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)
