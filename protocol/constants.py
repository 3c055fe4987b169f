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

# --- Archiving: segments, headers (kzg-erasure-archiving.md §1, §8, §9.1) — archiver section ----
RAW_RECORD_SIZE = SAFE_BYTES * RECORD_NUM_CHUNKS  # 1,015,808 bytes: 32,768 chunks of 31 bytes
RECORDED_HISTORY_SEGMENT_SIZE = RAW_RECORD_SIZE * NUM_RAW_RECORDS  # 130,023,424 bytes
ARCHIVED_HISTORY_SEGMENT_SIZE = PIECE_SIZE * NUM_PIECES  # 268,460,032 bytes
SEGMENT_COMMITMENT_SIZE = 48  # compressed G1 point
SEGMENT_HEADER_HASH_SIZE = 32  # BLAKE3-256 of the SCALE-encoded SegmentHeader
SEGMENT_HEADER_SIZE_COMPLETE = 94  # SegmentHeader::V0 with ArchivedBlockProgress::Complete
SEGMENT_HEADER_SIZE_PARTIAL = 98  # SegmentHeader::V0 with ArchivedBlockProgress::Partial(u32)

# --- Sectors and the farm on disk (sector-audit-prove.md §6-§8, pos-v2.md §4) — plotter section -
SECTOR_BITFIELD_SIZE = RECORD_NUM_S_BUCKETS // 8  # 8192 bytes per record in the contents map
RECORD_METADATA_SIZE = COMMITMENT_SIZE + WITNESS_SIZE + BLAKE3_HASH_SIZE  # 128 bytes
SECTOR_METADATA_CHECKSUMMED_SIZE = 131_116  # SectorMetadataChecksummed::encoded_size()
RECENT_SEGMENTS = 5  # FarmerProtocolInfo.recent_segments (mainnet)
RECENT_HISTORY_FRACTION = (1, 10)  # FarmerProtocolInfo.recent_history_fraction (mainnet)
MIN_SECTOR_LIFETIME = 4  # FarmerProtocolInfo.min_sector_lifetime (mainnet), in segments
RESERVED_PLOT_METADATA = 1024 * 1024  # metadata.bin header region (single_disk_farm.rs)
RESERVED_FARM_INFO = 1024 * 1024  # single_disk_farm.json reserve in the space allocation
DISK_SECTOR_SIZE = 4096  # file sizes are rounded up to this
IDENTITY_FILE_SIZE = 33  # identity.bin: SCALE Vec<u8> of 32 bytes of entropy
KNOWN_PEERS_FILE_SIZE = 961_284  # KnownPeersManager::file_size(100), §17.9 (re-derived from the reference)
PIECE_CACHE_ELEMENT_SIZE = 8 + PIECE_SIZE + BLAKE3_HASH_SIZE  # 1,048,712 bytes
PLOT_METADATA_HEADER_SIZE = 12  # version 1 header buffer: u8 + u16 + Option<u64>

# --- Farmer <-> node RPC, reward signing, dev node (pot-rpc.md C.1-C.7, S-A-P §4) — farmerd section
REWARD_SIGNING_CONTEXT = b"subspace_reward"  # schnorrkel signing context of reward signatures (C.7)
REWARD_SIGNING_TIMEOUT_MS = 500  # node drops a reward-signing forwarder after this (C.5)
SOLUTION_CHANNEL_CAPACITY = 9  # pending solutions per open slot channel (C.5)
ARCHIVED_SEGMENT_ACKNOWLEDGEMENT_TIMEOUT_S = 120  # archiver waits this long for acknowledgements (C.6)
DEFAULT_NODE_RPC_URL = "ws://127.0.0.1:9944"  # farmer --node-rpc-url default (C.1)
RPC_MAX_MESSAGE_SIZE = 20 * 1024 * 1024  # upstream client's max request size; a piece is ~2 MiB of hex (C.1)
INITIAL_SOLUTION_RANGE = 6_148_914_691_236_495  # pieces_to_solution_range(1000, (1, 6)) (S-A-P §4)

# --- Proof of Time, pot tool (issue 2; pot-rpc.md A.6, A.7) -------------------------------------
POT_ENTROPY_SIZE = 32  # PotParametersChange entropy and block PoT entropy: one BLAKE3 digest (A.6)
GLOBAL_CHALLENGE_SIZE = 32  # global randomness / global challenge: one BLAKE3 digest (A.7)
