"""Benchmark: sr25519 reward signing and verification (pot-rpc.md C.7).

    python -m farmkit.benchmarks.sr25519 [--reps N]

Prints one JSON object: best-of-N wall-clock milliseconds for our sign (context
``subspace_reward``) and verify, against py-sr25519-bindings (Rust schnorrkel, context
``substrate`` only) measured in the same run. The budget that matters is the node's 500 ms
reward-signing window.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from farmkit.kernels import ristretto, sr25519
from farmkit.protocol.constants import REWARD_SIGNING_CONTEXT


def best_ms(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    kp = sr25519.keypair_from_entropy(os.urandom(32))
    msg = os.urandom(32)
    sig = sr25519.sign(kp, msg, REWARD_SIGNING_CONTEXT)
    out = {
        "benchmark": "sr25519",
        "machine": platform.processor() or platform.machine(),
        "reps": args.reps,
        "libsodium_fast_path": ristretto.HAVE_LIBSODIUM,
        "sign_ms": best_ms(lambda: sr25519.sign(kp, msg, REWARD_SIGNING_CONTEXT), args.reps),
        "verify_ms": best_ms(lambda: sr25519.verify(kp.public, msg, sig, REWARD_SIGNING_CONTEXT), args.reps),
        "keypair_from_entropy_ms": best_ms(lambda: sr25519.keypair_from_entropy(msg), args.reps),
    }
    try:
        import sr25519 as bindings  # py-sr25519-bindings: the Rust baseline ("substrate" context)

        pair = bindings.pair_from_seed(kp.secret_key[:32])
        bsig = bindings.sign(pair, msg)
        out["baseline"] = "py-sr25519-bindings (Rust schnorrkel), context 'substrate'"
        out["baseline_sign_ms"] = best_ms(lambda: bindings.sign(pair, msg), args.reps)
        out["baseline_verify_ms"] = best_ms(lambda: bindings.verify(bsig, msg, pair[0]), args.reps)
        out["sign_ratio_vs_baseline"] = out["sign_ms"] / out["baseline_sign_ms"]
        out["verify_ratio_vs_baseline"] = out["verify_ms"] / out["baseline_verify_ms"]
    except ImportError:
        out["baseline"] = None
    out["reward_signing_window_ms"] = 500
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
