"""The channel between a checker and a student's process (`graders.remote`), without a notebook.

A real student process (a Python subprocess that defines the student's names in its ``__main__``
and calls ``serve``) answers a real ``Channel``: what crosses is data, what the student's objects
decide is refused, and checker objects sent over (a class, a module) work there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from graders.remote import call_probe
from graders.remote.proxy import Channel, Remote, StudentError, StudentTimeout

STUDENT = textwrap.dedent('''
    import numpy as np
    import torch
    from torch import nn

    class Dropout(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.p = p
        def forward(self, x):
            return x if not self.training else x * (torch.rand(x.shape) >= self.p) / (1 - self.p)

    class Liar:
        """Claims to equal anything and to be an all-true array."""
        def __eq__(self, other):
            return True
        def __bool__(self):
            return True
        shape = (3,)

    def answer():
        return Liar()

    def double(x):
        return 2 * x

    def add_one_in_place(x):
        x.add_(1)

    def picky(x):
        raise ValueError("x must be positive")

    def forever():
        while True:
            pass

    class Sneaky(torch.Tensor):
        pass

    def sneaky():
        return torch.ones(3).as_subclass(Sneaky)

    def to_bf16(model):
        model.to(torch.bfloat16)

    def sgd_step(model, optimizer, x):
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()
''')


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """``(channel, names)``: handles on the student's names, over a live socket."""
    folder = tmp_path_factory.mktemp("channel")
    path = str(folder / "checker.sock")
    channel = Channel(connect_timeout=30)
    channel.listen(path)
    code = STUDENT + f"\nfrom graders.remote.server import serve\nserve({path!r})\n"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=folder)
    try:
        channel.open()
        names = channel.lookup(["Dropout", "answer", "double", "add_one_in_place", "picky", "forever", "sneaky",
                                 "sgd_step"])
        yield channel, names
    finally:
        channel.close()
        channel.shutdown()
        proc.kill()
        proc.wait()


def test_values_come_back_as_data(student):
    _, names = student
    x = torch.arange(4.0)
    got = names["double"](x)
    assert type(got) is torch.Tensor and torch.equal(got, 2 * x)
    assert np.array_equal(names["double"](np.arange(3)), np.array([0, 2, 4]))
    meta = names["double"](torch.empty(2, 5, device="meta"))   # no values, only shape and dtype
    assert meta.is_meta and meta.shape == (2, 5) and meta.dtype == torch.float32
    sub = names["sneaky"]()       # a tensor subclass stays over there (its methods are the student's)...
    assert isinstance(sub, Remote)
    assert np.array_equal(np.asarray(sub), np.ones(3))  # ...and only its values come back


def test_a_lying_object_decides_nothing(student):
    _, names = student
    liar = names["answer"]()
    assert isinstance(liar, Remote)
    assert (liar == 42) is False                 # equality is identity of handles, not the liar's __eq__
    with pytest.raises(TypeError, match="truth value"):
        bool(liar)
    with pytest.raises(AttributeError, match="not an array or a tensor"):
        liar.shape                               # noqa: B018 - the attribute access is the test


def test_in_place_changes_are_copied_back(student):
    _, names = student
    x = torch.zeros(3)
    names["add_one_in_place"](x)
    assert torch.equal(x, torch.ones(3))


def test_student_errors_keep_their_builtin_class(student):
    _, names = student
    with pytest.raises(ValueError, match="x must be positive") as info:
        names["picky"](1)
    assert isinstance(info.value, StudentError)


def test_checker_objects_work_over_there(student):
    """A class and a module sent by the checker hold the student's layer (`build_there`)."""
    _, names = student
    layer = names["Dropout"](0.5)
    model = call_probe("build_there", nn.Sequential, [nn.Identity(), layer])
    assert isinstance(model, Remote)
    model.eval()
    x = torch.rand(1000) + 0.5
    assert torch.equal(model(x), x)
    model.train()
    zeros = (model(x) == 0).double().mean().item()
    assert 0.4 < zeros < 0.6


def test_a_call_that_outlives_its_budget_times_out(tmp_path):
    """A separate process: after a time-out the channel is stuck for good (the call still runs)."""
    path = str(tmp_path / "checker.sock")
    channel = Channel(connect_timeout=30, budget=lambda: 1.0)
    channel.listen(path)
    code = STUDENT + f"\nfrom graders.remote.server import serve\nserve({path!r})\n"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(tmp_path))
    try:
        channel.open()
        forever = channel.lookup(["forever"])["forever"]
        with pytest.raises(StudentTimeout):
            forever()
        with pytest.raises(StudentTimeout, match="still running|Unavailable|answer"):
            forever()
    finally:
        channel.close()
        channel.shutdown()
        proc.kill()
        proc.wait()


def test_a_checker_optimizer_keeps_its_state_across_calls(student):
    """Momentum built up by steps taken over there is the checker's optimizer's state afterwards."""
    channel, _ = student
    step = channel.lookup(["sgd_step"])["sgd_step"]
    torch.manual_seed(0)
    mine, ref = nn.Linear(3, 1), nn.Linear(3, 1)
    ref.load_state_dict(mine.state_dict())
    opt_mine = torch.optim.SGD(mine.parameters(), lr=0.1, momentum=0.9)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(8, 3)
    for _ in range(3):
        step(mine, opt_mine, x)
        opt_ref.zero_grad()
        ref(x).pow(2).mean().backward()
        opt_ref.step()
    assert torch.allclose(mine.weight, ref.weight) and torch.allclose(mine.bias, ref.bias)
    assert torch.allclose(opt_mine.state[mine.weight]["momentum_buffer"], opt_ref.state[ref.weight]["momentum_buffer"])


def test_a_dtype_change_over_there_is_seen_here(student):
    """``model.to(torch.bfloat16)`` in the student's code changes the checker's module too."""
    channel, _ = student
    to_bf16 = channel.lookup(["to_bf16"])["to_bf16"]
    model = nn.Linear(2, 2)
    weight = model.weight
    to_bf16(model)
    assert model.weight is weight and weight.dtype == torch.bfloat16 and model.bias.dtype == torch.bfloat16


def test_locked_cells_in_the_checker_write_in_a_folder_of_its_own_removed_at_exit():
    """The checker runs the locked cells too; one that makes a folder beside itself (extra_utils'
    checkpoints) must not litter the grader's folder, and its folder goes with the checker."""
    import os
    import time

    from graders.grading.checker import Checker

    before = set(os.listdir("."))
    checker = Checker("a-secret")
    try:
        checker.send({"op": "allow", "names": []})  # nothing taken from a student: no kernel needed
        checker.send({"op": "trusted", "cell": "setup", "source": (
            "import os, tempfile\nWORKDIR = tempfile.mkdtemp(prefix='run_', dir='.')\n"
            "open('planted.txt', 'w').write('x')\nraise RuntimeError('cwd=' + os.getcwd())")})
        assert checker.receive(30) == {"need_student": False}
        result = checker.receive(60)
    finally:
        checker.stop()
    cwd = result["error"].split("cwd=", 1)[1]
    assert os.path.basename(cwd).startswith("graders-checker-") and cwd != os.getcwd()
    deadline = time.monotonic() + 10
    while os.path.exists(cwd) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(cwd), "the checker's folder outlived it"
    assert set(os.listdir(".")) == before
