"""Every size limit certqnn uses to choose an algorithm or refuse a problem, in one place.

All dimensions count *binary* variables per neuron, p = d * bits (docs/math.md §2): a multi-level
problem is solved as a binary one on the expanded design, so its cost is that of p, not of d.
"""

# -- exact enumeration of the 2^p sign vectors (meet in the middle) --------------------------
ENUMERATION_BACKEND_MAX_DIM = 24   # enumeration backend: 2^24 atoms priced per round
EXACT_PRICING_MAX_DIM = 34         # pricing by enumeration: 2^34 evaluations is hours; refuse beyond
MITM_PREFERRED_MAX_DIM = 24        # pricing method "auto": meet in the middle up to here, branch and bound beyond
SMALL_SIGN_MATRIX_DIM = 12         # up to here the Frank-Wolfe LMO caches all 2^p sign vectors
EXACT_LMO_AUTO_MAX_DIM = 22        # Frank-Wolfe lmo "auto": exact pricing up to here, heuristic beyond

# -- certifying rho (docs/math.md §5) --------------------------------------------------------
VERIFY_EXACT_MAX_DIM = 32          # verify enumerates rho up to 2^31 (even sigma) evaluations, ~4 s here
CERTIFY_EXACT_RHO_MAX_DIM = 20     # certify() enumerates rho itself up to here when no PSD certificate is given
CERTIFY_PREFER_EXACT_DIM = 16      # ... and prefers enumeration to the Shor certificate up to here
EXACT_OBJECTIVE_MAX_WORK = 20_000_000  # verify recomputes J exactly (rationals) when n*d*m is at most this
TREE_ENUM_MAX_FREE = 14            # a branch-and-bound proof's enumeration leaf: at most 2^14 completions
MAX_TREE_LEAVES = 2_000_000        # leaves of a branch-and-bound proof the verifier accepts to check
TREE_PROVE_MAX_LEAVES = 1_000_000  # certify/colgen build a proof tree up to this many leaves (~70 MB, ~20 s to verify), else Shor

# -- relaxations and column generation -------------------------------------------------------
SDP_MAX_BLOCK = 400                # (p+1) x (p+1) PSD blocks; beyond this dense interior solves take hours
SDP_CONIC_MAX_ENTRIES = 20_000_000 # sdp engine "auto": scs while its conic data n * (p+2)(p+1)/2 stays below
                                   # this (~0.5 GB with the solver's copies); the matrix-free fo engine beyond
COLGEN_MAX_DIM = 64                # column generation: exact pricing by branch and bound up to here
REFIT_MAX_ATOMS = 256              # a final Lasso refit screens candidate atoms down to this many
ROUNDING_MAX_ENTRIES = 50_000_000  # the sdp rounding's master holds n x atoms outputs (400 MB, grown and compacted
                                   # in place): candidates, atoms per round and working set <= this / n atoms
# when holding the outputs allows fewer atoms, the master of a quadratic loss recomputes them by row
# blocks each round instead (work ~ n x atoms, and the master's own ~ atoms^2): at most
# min(ROUNDING_STREAMED_ENTRIES / n, ROUNDING_STREAMED_MAX_ATOMS) atoms (2000 from n = 2.5e4 to 1e5)
ROUNDING_STREAMED_ENTRIES = 200_000_000
ROUNDING_STREAMED_MAX_ATOMS = 2000
ROUNDING_MAX_WORKING_SET = 5000    # the rounding stops once the master holds this many atoms (an m x m
                                   # Gram and its factor, 200 MB each; at n = 1e4 about 30 rounds, 1.2 GB peak)

# -- the problem and the certificate file ----------------------------------------------------
MAX_SAMPLES = 200_000
MAX_FEATURES = 4096
MAX_BITS = 8
MAX_FILE_BYTES = 1 << 30
EMBED_MAX_VALUES = 2_000_000      # Certificate.write(data="auto"): X and y in the JSON up to this many numbers
                                  # (~40 MB of text, seconds to write and parse), else in a .npz data file
MAX_NEURONS = 100_000
MAX_CUTS = 1_000_000
