"""The trusted core: everything `verify` needs and nothing else.

    arith.py        rounding-error constants and directed rounding steps
    psd.py          rigorous PSD test (Cholesky with an a-posteriori error bound)
    enumerate.py    exact extremes of s~^T Q s~ over all sign vectors (meet in the middle)
    rho.py          Q(w) with its error bound; rho_bar from a Shor certificate or by enumeration
    bounds.py       the objective's upper bound and the scaling-lemma lower bound, via the loss
    certificate.py  the certificate file: hostile-input checks on reading, atomic writing
    verify.py       verify(certificate) -> Verdict

Imports numpy, fractions, math and the problem's own definition (problem, losses, quantization,
activations, triangles): no solver, no pricing heuristic, no branch and bound
(tests/test_trusted_core.py checks this). A certificate is accepted or refused by this package alone.
"""
