"""How calibration bins are shown: a table for the log and a reliability
diagram for the run folder."""
from typing import Sequence

from terminaltables import AsciiTable

from ..report_writing import format_number


def format_bin_table(bins: Sequence[dict]) -> str:
    """An ASCII table of the bins for the log.

    Args:
        bins (Sequence[dict]): Bins from
            :meth:`.binning.ReliabilityHistogram.bins`.

    Returns:
        str: One row per bin: range, count, mean confidence, precision, gap
        ('-' for an empty bin).
    """
    rows = [['confidence bin', 'count', 'mean conf.', 'precision', 'gap']]
    for bin_ in bins:
        rows.append([
            f"[{bin_['lower']:.3f}, {bin_['upper']:.3f})",
            str(bin_['count']),
            format_number(bin_['confidence']),
            format_number(bin_['precision']),
            format_number(bin_['gap']),
        ])
    return AsciiTable(rows).table


def plot_reliability_diagram(bins: Sequence[dict], d_ece: float,
                             score_thr: float, path: str) -> None:
    """Save a reliability diagram: precision per confidence bin.

    Each non-empty bin is a bar as wide as the bin and as high as its
    precision, labelled with its detection count; the dashed diagonal is
    perfect calibration (precision = confidence) and a dot marks the mean
    confidence of each bin on it, so the vertical distance from dot to bar
    top is the bin's gap.

    Args:
        bins (Sequence[dict]): Bins from
            :meth:`.binning.ReliabilityHistogram.bins`.
        d_ece (float): D-ECE, shown in the title.
        score_thr (float): Lower end of the confidence axis.
        path (str): Output PNG path.
    """
    # Figure without pyplot: no global backend or figure state is touched,
    # which matters inside a training process.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 5.4), dpi=100)
    axes = figure.add_subplot()
    filled = [bin_ for bin_ in bins if bin_['count']]
    axes.bar([bin_['lower'] for bin_ in filled],
             [bin_['precision'] for bin_ in filled],
             width=[bin_['upper'] - bin_['lower'] for bin_ in filled],
             align='edge', color='tab:blue', edgecolor='black', alpha=0.8,
             label='precision')
    axes.plot([score_thr, 1.0], [score_thr, 1.0], linestyle='--',
              color='gray', label='perfect calibration')
    axes.plot([bin_['confidence'] for bin_ in filled],
              [bin_['confidence'] for bin_ in filled], 'o', color='tab:red',
              markersize=4, label='mean confidence')
    for bin_ in filled:
        axes.text((bin_['lower'] + bin_['upper']) / 2,
                  bin_['precision'] + 0.01, str(bin_['count']),
                  ha='center', va='bottom', fontsize=7)
    axes.set_xlim(score_thr, 1.0)
    axes.set_ylim(0.0, 1.08)
    axes.set_xlabel('confidence')
    axes.set_ylabel('precision')
    axes.set_title(f'Reliability diagram (D-ECE = {format_number(d_ece)})')
    # Below the axes: inside, it would hide the bars and counts of some bin.
    axes.legend(loc='upper center', bbox_to_anchor=(0.5, -0.12), ncol=3,
                fontsize=8, frameon=False)
    figure.tight_layout()
    figure.savefig(path)
