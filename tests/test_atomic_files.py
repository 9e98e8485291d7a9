"""The one atomic writer: complete or absent, user's permissions, no clobber."""
import json
import os
import stat

import pytest

from focal_det.atomic_files import (atomic_write, remove_unfinished_writes,
                                    temporary_name, write_json)


def test_written_file_has_the_users_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json(str(tmp_path / 'a.json'), {'x': 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    with open(path) as f:
        assert json.load(f) == {'x': 1}


def test_a_failure_inside_the_block_keeps_the_old_file_and_no_leftover(
        tmp_path):
    path = tmp_path / 'report.json'
    path.write_text('old')
    with pytest.raises(RuntimeError):
        with atomic_write(str(path)) as f:
            f.write('half of the new')
            raise RuntimeError('killed')
    assert path.read_text() == 'old'
    assert sorted(os.listdir(tmp_path)) == ['report.json']


def test_nothing_is_visible_under_the_final_name_before_completion(tmp_path):
    path = tmp_path / 'model.json'
    with atomic_write(str(path)) as f:
        f.write('{}')
        f.flush()
        assert not path.exists()
        hidden = [name for name in os.listdir(tmp_path)
                  if name.startswith('.')]
        assert len(hidden) == 1
    assert path.read_text() == '{}'
    assert os.listdir(tmp_path) == ['model.json']


def test_no_overwrite_refuses_and_keeps_the_existing_file(tmp_path):
    path = tmp_path / 'calibration.json'
    path.write_text('mine')
    with pytest.raises(FileExistsError, match='calibration.json'):
        write_json(str(path), {'new': True}, overwrite=False)
    assert path.read_text() == 'mine'
    assert os.listdir(tmp_path) == ['calibration.json']


def test_remove_unfinished_writes_removes_only_temporary_files(tmp_path):
    (tmp_path / temporary_name('epoch_3.pth')).write_bytes(b'half')
    (tmp_path / 'epoch_2.pth').write_bytes(b'whole')
    (tmp_path / '.hidden_but_mine').write_text('keep')
    removed = remove_unfinished_writes(str(tmp_path))
    assert [os.path.basename(p) for p in removed] == ['.epoch_3.pth.tmp']
    assert sorted(os.listdir(tmp_path)) == ['.hidden_but_mine',
                                            'epoch_2.pth']
