"""Every protocol constant, in one place (spec: sector-audit-prove.md §1, anchors.md §0,
pot-rpc.md A.9, kzg-erasure-archiving.md, pos.md).

Modules elsewhere import sizes from here; none re-declares a literal. Add new constants under the
section they belong to, with the spec section in a comment.
"""

# --- Scalars and records (sector-audit-prove.md §1) ---------------------------------------------
SCALAR_SIZE = 32  # bytes of one BLS12-381 Fr element, big-endian on the wire
SAFE_BYTES = 31  # payload bytes carried by one scalar in source data
RECORD_NUM_CHUNKS = 2**15  # chunks (scalars) in a record
RECORD_NUM_S_BUCKETS = 2**16  # s-buckets after erasure coding at rate 1/2
RECORD_SIZE = SCALAR_SIZE * RECORD_NUM_CHUNKS  # 1,048,576 bytes
COMMITMENT_SIZE = 48  # compressed BLS12-381 G1 point (record/segment commitment, witnesses)
WITNESS_SIZE = 48
PIECE_SIZE = RECORD_SIZE + COMMITMENT_SIZE + WITNESS_SIZE  # 1,048,672 bytes

# --- Segments (kzg-erasure-archiving.md) ------------------------------------------------------
NUM_RAW_RECORDS = 128  # source records per segment
NUM_PIECES = 256  # pieces per archived segment (even position = source, odd = parity)

# --- Hashes, keys, signatures -------------------------------------------------------------------
BLAKE3_HASH_SIZE = 32
PUBLIC_KEY_SIZE = 32  # sr25519 (schnorrkel, ristretto255)
REWARD_SIGNATURE_SIZE = 64

# --- Proof of space (pos.md) ------------------------------------------------------------------
POS_K = 20
POS_SEED_SIZE = 32
POS_PROOF_SIZE = 8 * POS_K  # 160 bytes

# --- Sectors (sector-audit-prove.md §1, §7) -----------------------------------------------------
MAX_PIECES_IN_SECTOR = 1000  # mainnet runtime MAX_PIECES_IN_SECTOR

# --- Proof of Time (pot-rpc.md A.1, A.4, A.9) -------------------------------------------------
POT_SEED_SIZE = 16
POT_KEY_SIZE = 16
POT_OUTPUT_SIZE = 16
POT_NUM_CHECKPOINTS = 8
POT_ITERATIONS_MULTIPLE = 2 * POT_NUM_CHECKPOINTS  # iterations must be a multiple of 16
POT_MAINNET_SLOT_ITERATIONS = 206_557_520
POT_DEVNET_SLOT_ITERATIONS = 150_000_000
POT_DEV_SLOT_ITERATIONS = 100_000_000

# --- Consensus timing (pot-rpc.md A.9, anchors.md §0) -------------------------------------------
SLOT_DURATION_MS = 1000
BLOCK_AUTHORING_DELAY = 4  # slots; also the farmer's proving budget in seconds
SLOT_PROBABILITY = (1, 6)
