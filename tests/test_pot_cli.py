"""`pot` command line: outputs against known answers (pot.json), exit codes, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from farmkit.cli import run
from farmkit.pot.cli import app

from conftest import opencl_available

SEED = "d666ccd8d593c23da8db6b5b1413b13a"


def pot(capsys, *argv):
    """Run `pot argv...` in-process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        run(app, list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def one_line_error(code, err):
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.fixture(scope="module")
def v(vectors):
    return vectors("pot.json")


def test_prove_json(capsys, v):
    code, out, _ = pot(capsys, "prove", "--seed", SEED, "--iterations", "512", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc == {
        "seed": SEED,
        "key": v["key(SEED)=blake3(SEED)[:16]"],
        "iterations": 512,
        "checkpoints": v["prove(SEED,512)"],
        "output": v["prove(SEED,512)"][-1],
    }


def test_prove_text_and_portable(capsys, v):
    code, out, _ = pot(capsys, "prove", "--seed", SEED.upper(), "--iterations", "512", "--impl", "portable")
    assert code == 0
    assert v["prove(SEED,512)"][-1] in out and v["key(SEED)=blake3(SEED)[:16]"] in out


def test_verify_exit_codes(capsys, v):
    cps = ",".join(v["prove(SEED,512)"])
    code, out, _ = pot(capsys, "verify", "--seed", SEED, "--iterations", "512", "--checkpoints", cps, "--json")
    assert code == 0 and json.loads(out)["valid"] is True
    bad = ",".join(v["prove(SEED,512)"][:3] + ["16" * 16] + v["prove(SEED,512)"][4:])
    code, out, _ = pot(capsys, "verify", "--seed", SEED, "--iterations", "512", "--checkpoints", bad, "--json")
    assert code == 1 and json.loads(out)["valid"] is False
    code, out, _ = pot(capsys, "verify", "--seed", SEED, "--iterations", "1024", "--checkpoints", cps)
    assert code == 1 and "INVALID" in out


@pytest.mark.parametrize(
    "args",
    [
        ["--seed", "zz" * 16, "--iterations", "512"],  # malformed hex
        ["--seed", SEED[:-2], "--iterations", "512"],  # wrong length
        ["--seed", SEED, "--iterations", "1000"],  # not a multiple of 16
        ["--seed", SEED, "--iterations", "0"],
        ["--seed", SEED, "--iterations", "-16"],
        ["--seed", SEED, "--iterations", "abc"],  # not an integer (typer usage error)
        ["--seed", SEED, "--iterations", "512", "--impl", "nope"],
    ],
)
def test_prove_bad_input(capsys, args):
    code, _, err = pot(capsys, "prove", *args)
    one_line_error(code, err)


@pytest.mark.parametrize(
    "cps",
    [
        ",".join(["00" * 16] * 7),  # 7 checkpoints
        ",".join(["00" * 16] * 9),
        ",".join(["00" * 16] * 7 + ["00" * 15]),  # one too short
        ",".join(["00" * 16] * 7 + ["g" * 32]),  # bad hex
    ],
)
def test_verify_bad_input(capsys, cps):
    code, _, err = pot(capsys, "verify", "--seed", SEED, "--iterations", "512", "--checkpoints", cps)
    one_line_error(code, err)


def test_challenge_and_next_seed(capsys, v):
    out1 = v["prove(SEED,512)"][-1]
    code, out, _ = pot(capsys, "challenge", "--output", out1, "--slot", "1", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["global_challenge"] == v["global_challenge(.., slot=1)"]
    assert doc["global_randomness"] == v["global_randomness(prove(SEED,512).output)"]
    code, out, _ = pot(capsys, "next-seed", "--output", out1, "--entropy", "01" * 32)
    assert code == 0 and out.strip() == v["seed_with_entropy(output1, [1;32])"]
    code, out, _ = pot(capsys, "next-seed", "--output", out1, "--json")
    assert json.loads(out)["seed"] == out1
    code, _, err = pot(capsys, "next-seed", "--output", out1, "--entropy", "01" * 31)
    one_line_error(code, err)
    code, _, err = pot(capsys, "challenge", "--output", out1, "--slot", "-1")
    one_line_error(code, err)


def _batch_file(tmp_path, v):
    good = {"seed": SEED, "iterations": 512, "checkpoints": v["prove(SEED,512)"]}
    wrong = dict(good, iterations=1024)
    lines = [
        json.dumps(good),
        json.dumps(wrong),
        "not json",
        json.dumps({"seed": SEED, "iterations": 512}),
        json.dumps(dict(good, seed="xyz")),
        "",
        json.dumps(dict(good, iterations=100)),
        json.dumps(dict(good, checkpoints=v["prove(SEED,512)"][:7])),
        json.dumps({"seed": v["seed_with_entropy(output1, [1;32])"], "iterations": 1024, "checkpoints": ",".join(v["prove(seed_with_entropy,1024)"])}),
    ]
    path = tmp_path / "proofs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("backend", ["cpu", "opencl"])
def test_verify_batch(capsys, tmp_path, v, backend):
    if backend == "opencl" and not opencl_available():
        pytest.skip("no OpenCL platform")
    code, out, err = pot(capsys, "verify-batch", str(_batch_file(tmp_path, v)), "--backend", backend)
    assert code == 1
    verdicts = [json.loads(line) for line in out.splitlines()]
    assert [d["line"] for d in verdicts] == [1, 2, 3, 4, 5, 7, 8, 9]
    assert [d["valid"] for d in verdicts] == [True, False, None, None, None, None, None, True]
    assert all("error" in d for d in verdicts if d["valid"] is None)
    assert "Traceback" not in err


def test_verify_batch_missing_file(capsys, tmp_path):
    code, _, err = pot(capsys, "verify-batch", str(tmp_path / "nope.jsonl"))
    one_line_error(code, err)


def test_demo_small_json(capsys, v):
    code, out, _ = pot(capsys, "demo", "--iterations", "512", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["checkpoints"] == v["prove(SEED,512)"]
    assert all(t["valid"] and t["rejects_tampered"] for t in doc["verify"])


def test_console_script_one_line_error():
    exe = shutil.which("pot")
    cmd = [exe] if exe else [sys.executable, "-m", "farmkit.pot.cli"]
    proc = subprocess.run(cmd + ["verify", "--seed", SEED, "--iterations", "1000", "--checkpoints", "x"], capture_output=True, text=True)
    one_line_error(proc.returncode, proc.stderr)
