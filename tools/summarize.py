"""Print the AP table (AP, AP50, APr, APc, APf) of finished runs.

    python tools/summarize.py WORK_DIR [WORK_DIR ...]
"""
import argparse
import os.path as osp

from focal_det.analysis.finished_runs import latest_report, summary_table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+')
    args = parser.parse_args()
    reports = {
        osp.basename(osp.normpath(d)): latest_report(d)
        for d in args.work_dirs
    }
    print(summary_table(reports))


if __name__ == '__main__':
    main()
