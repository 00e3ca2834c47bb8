// hull's own version, as `hull --version` and the CRI's Version report it.
export const HULL_VERSION = "0.1.0";
