"""A full disk is named clearly (issue #32, group 4): however the writer reports it (OSError ENOSPC,
safetensors' "No space left on device", torch's "unexpected pos" of a short write), the user reads one
einformer error naming the path and the space left, and the last checkpoint survives."""

import errno
import os

import pytest
import torch
from safetensors import SafetensorError

import einformer.checkpoint as checkpoint
import einformer.training.trainer as trainer
from einformer.cli import main
from einformer.errors import EinformerError

from .helpers import LM, losses, text_file

SAFETENSORS = SafetensorError(
    'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
)
TORCH = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2304 vs 2202")


@pytest.mark.parametrize(
    "writer, error",
    [
        ("weights", OSError(errno.ENOSPC, "No space left on device")),
        ("weights", SAFETENSORS),
        ("state", TORCH),
    ],
    ids=["ENOSPC", "safetensors", "torch-unexpected-pos"],
)
def test_a_full_disk_is_one_einformer_error_naming_the_path_and_the_space(tmp_path, monkeypatch, capsys, writer, error):
    """Before: "unexpected SafetensorError ... No space left on device", or "[enforce fail at
    inline_container.cc:672] unexpected pos", with no word about disk space or the file."""
    data, run = text_file(tmp_path), tmp_path / "run"
    argv = ["train", *LM, "--data", str(data), "--run-dir", str(run), "--steps", "4", "--save-every", "2"]
    calls = []
    if writer == "weights":
        real = checkpoint.save_file

        def fail_second(tensors, path, metadata=None):
            calls.append(path)
            if len(calls) >= 2:
                raise error
            return real(tensors, path, metadata=metadata)

        monkeypatch.setattr(checkpoint, "save_file", fail_second)
    else:
        real = torch.save

        def fail_second(obj, f, *args, **kwargs):
            calls.append(f)
            if len(calls) >= 2:
                raise error
            return real(obj, f, *args, **kwargs)

        monkeypatch.setattr(trainer.torch, "save", fail_second)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unexpected" not in err.split("writer said")[0], err
    assert "no space left on the device while writing" in err and "MB free there" in err, err
    assert str(run) in err and "--resume" in err
    assert os.readlink(run / "last") == "checkpoint-2"
    monkeypatch.undo()
    assert main([*argv, "--resume"]) == 0
    assert [s for s, _ in losses(run)] == [1, 2, 3, 4]


def test_the_error_type_is_einformer_s_and_an_os_error():
    from einformer.errors import DiskFullError
    from einformer.training.run_checkpoints import writing

    with pytest.raises(DiskFullError) as caught, writing("/nonexistent/dir/file", "model"):
        raise TORCH
    assert isinstance(caught.value, EinformerError) and isinstance(caught.value, OSError)
    with pytest.raises(KeyError), writing("/tmp/x"):  # anything else passes unchanged
        raise KeyError("other")


def test_a_ctrl_c_while_writing_a_state_ends_the_write_first_and_is_no_full_disk(tmp_path):
    """Before: a Ctrl-C inside torch.save surfaced as its zip writer's "unexpected pos" error, reported as
    a full disk (8 of 30 interrupted saves; CI's Ctrl-C test once). Now the write ends whole, then the
    KeyboardInterrupt."""
    import signal

    from einformer.training.run_checkpoints import writing

    state = {f"t{i}": torch.randn(64) for i in range(200)}
    path = tmp_path / "training_state.pt"
    with pytest.raises(KeyboardInterrupt):
        with writing(path, "training state"), checkpoint.atomic_write(path) as f:
            os.kill(os.getpid(), signal.SIGINT)  # arrives while the state is being written
            torch.save(state, f)
    loaded = torch.load(path, weights_only=True)
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Python's handler is back
