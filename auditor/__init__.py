"""farmkit.auditor: Audit plots, prove winning chunks, verify solutions, scrub and benchmark farms."""
