"""Inputs and results of a run of a Brian2 network, whichever device runs it."""

from dataclasses import dataclass, field

__all__ = ["RunInputs", "RunOutputs"]


@dataclass
class RunInputs:
    """Inputs of one run.

    ``parameters`` maps parameter names (as :meth:`neurosim.network.Network.parameters`)
    to flat arrays, weight matrices in row-major order; ``rates`` maps the names of
    :attr:`BuiltNetwork.rates` to numbers; ``timed`` maps TimedArray names to values.
    """

    parameters: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)
    timed: dict = field(default_factory=dict)


@dataclass
class RunOutputs:
    """Results of one run.

    ``parameters`` as in :class:`RunInputs`, after the run; ``monitors`` maps a monitor's
    key to an array with one row per recorded time; ``final_states`` and
    ``feedforward_states`` map group names to the states at the end of the run.
    """

    parameters: dict = field(default_factory=dict)
    monitors: dict = field(default_factory=dict)
    final_states: dict = field(default_factory=dict)
    feedforward_states: dict = field(default_factory=dict)
