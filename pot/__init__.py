"""farmkit.pot: Proof-of-Time: repeated AES-128 at AES-NI speed, checkpoint verification, global challenges."""
