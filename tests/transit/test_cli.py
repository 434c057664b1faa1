

def test_cli_modes_are_the_matrix_modes():
    """The CLI names its modes without loading the router (numba); they must stay those of the matrix."""
    from urbankit.transit import cli as transit_cli
    from urbankit.transit.matrix import MODES

    assert transit_cli.MODES == MODES
