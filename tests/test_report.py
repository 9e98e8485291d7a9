"""Reading finished runs and regenerating result documents."""
import json

import pytest

from focal_det.analysis.finished_runs import (HAND_WRITTEN_MARKER,
                                              last_checkpoint, latest_report,
                                              newest_run_file,
                                              write_generated_doc)


def test_regenerating_a_doc_keeps_its_hand_written_tail(tmp_path):
    path = str(tmp_path / 'results.md')
    write_generated_doc(path, '# table v1\n')
    with open(path, 'a') as f:
        f.write(f'\n{HAND_WRITTEN_MARKER}\n\nmy reading\n')
    write_generated_doc(path, '# table v2\n')
    text = open(path).read()
    assert text.startswith('# table v2\n')
    assert 'table v1' not in text
    assert text.endswith(f'{HAND_WRITTEN_MARKER}\n\nmy reading\n')


def test_newest_run_file_and_last_checkpoint(tmp_path):
    for stamp, ap in (('20261122_100000', 0.1), ('20261122_110000', 0.2)):
        (tmp_path / stamp).mkdir()
        (tmp_path / stamp / 'long_tail_metrics.json').write_text(
            json.dumps(dict(overall=dict(bbox_mAP=ap))))
    assert newest_run_file(str(tmp_path), 'long_tail_metrics.json').endswith(
        '20261122_110000/long_tail_metrics.json')
    assert latest_report(str(tmp_path))['overall']['bbox_mAP'] == 0.2
    with pytest.raises(FileNotFoundError, match='no missing.json under'):
        newest_run_file(str(tmp_path), 'missing.json')
    with pytest.raises(FileNotFoundError, match='no checkpoint recorded'):
        last_checkpoint(str(tmp_path))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth\n'))
    assert last_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_3.pth')
