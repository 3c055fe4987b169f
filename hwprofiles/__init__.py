"""farmkit.hwprofiles: measured hardware profiles (HDF5) and the `hwprofile` tool that makes them."""
