"""farmkit.plotter: Archive history into pieces (KZG, erasure coding) and plot sectors (PoS k=20 tables, masking, plot files)."""
