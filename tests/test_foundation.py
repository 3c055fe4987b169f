"""The skeleton every tool stands on: namespace imports, console scripts, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

TOOLS = ["pot", "plotter", "auditor", "farmerd", "hwprofile"]


def test_namespace_imports():
    import farmkit.auditor
    import farmkit.farmerd
    import farmkit.kernels
    import farmkit.plotter
    import farmkit.pot
    import farmkit.protocol.constants as c

    assert c.PIECE_SIZE == 1_048_672
    assert c.RECORD_SIZE == 1_048_576


@pytest.mark.parametrize("tool", TOOLS)
def test_help_works(tool):
    out = subprocess.run([tool, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Usage" in out.stdout


@pytest.mark.parametrize("tool", TOOLS)
def test_usage_error_is_one_line(tool):
    out = subprocess.run([tool, "--no-such-flag"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "no-such-flag" in out.stderr


def test_backend_registry():
    from farmkit.errors import BackendUnavailable
    from farmkit.kernels.backends import available_backends, resolve_backend

    assert "cpu" in available_backends()
    assert resolve_backend("cpu") == "cpu"
    assert resolve_backend(None) in available_backends()
    with pytest.raises(BackendUnavailable):
        resolve_backend("tpu")


def test_gpu_one_source_on_opencl():
    from conftest import opencl_available

    if not opencl_available():
        pytest.skip("no OpenCL platform")
    import numpy as np

    from farmkit.kernels.gpu import gpu_context

    ctx = gpu_context("opencl")
    prog = ctx.program(
        "KERNEL f(GLOBAL u32 *x, u32 n) { u64 i = GID(); if (i >= n) return;"
        " x[i] = ROTR32(x[i] + 1u, 8) ^ BSWAP32(x[i]); }"
    )
    a = np.arange(1000, dtype=np.uint32)
    d = ctx.to_device(a)
    prog.launch("f", 1000, 64, d, np.uint32(1000))
    b = a + np.uint32(1)
    expected = ((b >> np.uint32(8)) | (b << np.uint32(24))) ^ a.byteswap()
    assert (ctx.to_host(d) == expected).all()


def test_run_turns_errors_into_one_line(capsys):
    import typer

    from farmkit.cli import new_app, run
    from farmkit.errors import FarmkitError

    app = new_app("t", "test")

    @app.command()
    def boom(kind: str) -> None:
        if kind == "farmkit":
            raise FarmkitError("bad thing\nwith a second line")
        if kind == "os":
            raise FileNotFoundError(2, "No such file or directory", "/nope")
        if kind == "exit":
            raise typer.Exit(1)

    @app.command()
    def other() -> None:
        pass

    for kind, code in (("farmkit", 2), ("os", 2), ("exit", 1), ("fine", 0)):
        with pytest.raises(SystemExit) as ei:
            run(app, ["boom", kind])
        assert ei.value.code == code
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) <= 1
