"""Build the Brian2 objects of a :class:`~neurosim.brian2.spec.NetworkSpec`.

Time is organised in samples of ``steps_per_sample`` integration steps. Three clocks run:
the step clock (``dt``) integrates the layers; the sample clock ticks once per sample; the
batch clock once per minibatch. At a sample-clock tick, in this order (the slots of
:data:`SCHEDULE`):

1. ``learn``: the sample that has just ended updates the weights and biases, using ``s+``
   (the current states) and ``s-`` (stored at the end of its negative phase); with
   minibatches the batch clock then applies the accumulated mean;
2. ``readout``: monitors record ``s-`` of the output layer, ``s^f`` and the residual;
3. ``present``: the next sample is loaded, the feedforward population computes ``s^f``,
   the input drive ``W_1^T x`` is summed once, and the layers start from ``clip(s^f)`` or 0.

Then the step clock integrates (``groups``) and clips the states (``end``). A run presents
``n_samples`` samples and lasts one step more, so that the last sample's learning and
readout happen at a final tick.
"""

import logging
from dataclasses import dataclass, field

import numpy as np

from . import equations as eq
from .layout import parameter_order

__all__ = ["SCHEDULE", "BuiltNetwork", "build_network", "TIMED_ARRAYS"]

logger = logging.getLogger(__name__)

#: The network's scheduling slots, in the order they run within a time step.
SCHEDULE = ["learn", "readout", "present", "start", "groups", "thresholds", "synapses",
            "resets", "end"]

#: Per-run inputs as TimedArrays, by name: "sample" arrays have one row per sample, "tick"
#: arrays one row per sample-clock tick (one more than there are samples).
TIMED_ARRAYS = {
    "x_values": "sample",        # inputs, (n_samples, n_input)
    "y_values": "sample",        # one-hot targets, (n_samples, n_output)
    "beta_values": "sample",     # signed beta of each sample's positive phase
    "inv_beta_values": "tick",   # 1 / beta of the sample that ended at the tick, else 0
    "learn_values": "tick",      # 1 where the sample that ended at the tick is learned
}

# Orders inside the "learn" and "present" slots, in the sequence of the module docstring.
_FIRST = 0           # load a sample, reset accumulated drives; feedforward errors (learn)
_EVENTS = 100        # input events
_PATHWAYS = 101      # pathways of those events
_UPDATES = 102       # weight and bias updates
_APPLY = 103         # minibatch means (batch clock)
_FEEDFORWARD = 110   # feedforward layers, one after another (110 + 2 l and 110 + 2 l - 1)
_INIT = 900          # initial states of the negative phase


@dataclass
class BuiltNetwork:
    """The Brian2 objects of one network and what a run reads and writes.

    ``parameters`` maps each :meth:`neurosim.network.Network.parameters` name to the
    ``(object, variable)`` that holds it. ``rates`` maps ``"eta_l"``, ``"eta_ff_l"`` and
    ``"coupling_l"`` to ``(object, variable)`` of the shared learning rates and lambda.
    """

    spec: object
    net: object
    namespace: dict
    duration: object
    groups: dict = field(default_factory=dict)
    synapses: dict = field(default_factory=dict)
    monitors: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)

    def timed_array_shape(self, name):
        """Return the shape of the TimedArray ``name`` for this network."""
        spec = self.spec
        rows = spec.n_samples + (1 if TIMED_ARRAYS[name] == "tick" else 0)
        if name == "x_values":
            return rows, spec.layers[0]
        if name == "y_values":
            return rows, spec.layers[-1]
        return (rows,)

    def timed_array_names(self):
        """Return the TimedArrays this network reads."""
        if self.spec.mode == "evaluate":
            return ["x_values"]
        if self.spec.mode == "record":
            return ["x_values", "y_values", "beta_values"]
        names = ["x_values", "y_values", "beta_values", "inv_beta_values"]
        return names + ["learn_values"] if self.spec.initialized else names


def _sample_dt(spec):
    return spec.steps_per_sample * spec.dt


def build_network(spec):
    """Create the Brian2 objects of ``spec`` on the current device.

    Returns
    -------
    BuiltNetwork
        With placeholder TimedArrays (zeros) in its namespace.
    """
    import brian2 as b2

    # The input layer's pathways run on the sample clock and target layers on the step
    # clock by design; Brian2 would warn about the mismatch of clocks for every build.
    b2.BrianLogger.suppress_name("synapses_dt_mismatch")
    ms = b2.ms
    step_clock = b2.Clock(dt=spec.dt * ms, name="step_clock")
    sample_clock = b2.Clock(dt=_sample_dt(spec) * ms, name="sample_clock")
    namespace = {
        "tau": 1 * ms,
        "dt_tau": spec.dt,
        "steps_per_sample": spec.steps_per_sample,
        "steps_minus": spec.steps_minus,
        "batch_size": spec.batch_size,
    }
    built = BuiltNetwork(spec=spec, net=None, namespace=namespace,
                         duration=spec.n_steps * spec.dt * ms)
    for name in built.timed_array_names():
        namespace[name] = make_timed_array(built, name, np.zeros(built.timed_array_shape(name)))

    clocks = {"step": step_clock, "sample": sample_clock}
    if spec.accumulate:
        clocks["batch"] = b2.Clock(dt=spec.batch_size * _sample_dt(spec) * ms, name="batch_clock")

    _build_inputs(built, clocks)
    _build_layers(built, clocks)
    if spec.initialized:
        _build_feedforward(built, clocks)
    _build_layer_synapses(built, clocks)
    if spec.mode != "record":
        _build_readout(built, clocks)
    else:
        _build_state_monitors(built, clocks)

    objects = list(built.groups.values()) + list(built.synapses.values())
    objects += list(built.monitors.values())
    built.net = b2.Network(*objects, name="ep_network")
    built.net.schedule = SCHEDULE
    return built


def make_timed_array(built, name, values):
    """Return the TimedArray ``name`` with ``values``, one row per sample or tick."""
    import brian2 as b2

    dt = _sample_dt(built.spec) * b2.ms
    return b2.TimedArray(np.asarray(values, dtype=built.spec.dtype), dt=dt, name=name)


def _group(built, name, size, model, clock, **kwargs):
    import brian2 as b2

    group = b2.NeuronGroup(size, model, clock=clock, name=name, namespace=built.namespace,
                           **kwargs)
    built.groups[name] = group
    return group


def _synapses(built, name, source, target, model, **kwargs):
    import brian2 as b2

    synapses = b2.Synapses(source, target, model, name=name, namespace=built.namespace,
                           **kwargs)
    built.synapses[name] = synapses
    return synapses


def _build_inputs(built, clocks):
    spec = built.spec
    events = {"present": eq.INPUT_EVENTS["present"]}
    if spec.plastic:
        events["learn"] = eq.INPUT_EVENTS["learn"]
    inputs = _group(built, "inputs", spec.layers[0], eq.INPUT_EQUATIONS, clocks["sample"],
                    events=events)
    inputs.run_regularly(eq.LOAD_INPUT, when="present", order=_FIRST, name="inputs_load")
    _place(inputs.thresholder["present"], "present", _EVENTS)
    if spec.plastic:
        _place(inputs.thresholder["learn"], "learn", _EVENTS)


def _place(obj, when, order):
    obj.when = when
    obj.order = order


def _build_layers(built, clocks):
    spec = built.spec
    n_layers = len(spec.layers) - 1
    for index in range(1, n_layers + 1):
        first, last = index == 1, index == n_layers
        name = f"layer_{index}"
        model = eq.layer_equations(first=first, last=last, coupled=spec.coupled,
                                   linked_sf=spec.start_from_feedforward or spec.coupled,
                                   accumulate=spec.accumulate)
        group = _group(built, name, spec.layers[index], model, clocks["step"],
                       method=spec.method, events=eq.layer_events())
        group.run_regularly(eq.CLIP_STATE, when="end", order=0, name=f"{name}_clip")
        _place(group.thresholder["last_step"], "start", 0)
        group.run_on_event("last_step", eq.STORE_LAST, when="start", order=1)
        _place(group.thresholder["settled"], "end", 1)
        group.run_on_event("settled", eq.STORE_MINUS, when="end", order=2)
        sample = clocks["sample"]
        if first:
            group.run_regularly("I_up = 0", clock=sample, when="present", order=_FIRST,
                                name=f"{name}_reset_drive")
        if last and spec.mode != "evaluate":
            group.run_regularly(eq.LOAD_TARGET, clock=sample, when="present", order=_FIRST,
                                name=f"{name}_load_target")
        group.run_regularly(eq.init_state(spec.start_from_feedforward), clock=sample,
                            when="present", order=_INIT, name=f"{name}_init")
        if spec.plastic:
            group.run_regularly(eq.EP_DELTA, clock=sample, when="learn", order=_EVENTS - 1,
                                name=f"{name}_ep_delta")
            group.run_regularly(eq.ep_bias_update(spec.accumulate), clock=sample,
                                when="learn", order=_UPDATES, name=f"{name}_learn_bias")
            if spec.accumulate:
                group.run_regularly(eq.apply_accumulated("b"), clock=clocks["batch"],
                                    when="learn", order=_APPLY, name=f"{name}_apply_bias")
        built.parameters[f"biases_{index - 1}"] = (group, "b")
        built.rates[f"eta_{index - 1}"] = (group, "eta")
        if spec.coupled:
            built.rates[f"coupling_{index - 1}"] = (group, "coupling")


def _build_feedforward(built, clocks):
    import brian2 as b2

    spec = built.spec
    n_layers = len(spec.layers) - 1
    sample = clocks["sample"]
    for index in range(1, n_layers + 1):
        name = f"ff_{index}"
        group = _group(built, name, spec.layers[index],
                       eq.feedforward_equations(spec.global_loss, spec.accumulate), sample)
        layer = built.groups[f"layer_{index}"]
        group.s_target = b2.linked_var(layer, "s_minus")
        if spec.start_from_feedforward or spec.coupled:
            layer.sf = b2.linked_var(group, "sf")
        if index == 1:
            group.run_regularly("I_ff = 0", when="present", order=_FIRST, name=f"{name}_reset")
        group.run_regularly(eq.FEEDFORWARD_OUTPUT, when="present",
                            order=_FEEDFORWARD + 2 * index, name=f"{name}_output")
        if spec.plastic:
            # Errors flow top-down: layer L first, then each lower layer after the
            # backpropagated term from the layer above (global loss only) has been summed.
            group.run_regularly(eq.feedforward_delta(spec.global_loss), when="learn",
                                order=2 * (n_layers - index), name=f"{name}_delta")
            group.run_regularly(eq.feedforward_bias_update(spec.accumulate), when="learn",
                                order=_UPDATES, name=f"{name}_learn_bias")
            if spec.accumulate:
                group.run_regularly(eq.apply_accumulated("c"), clock=clocks["batch"],
                                    when="learn", order=_APPLY, name=f"{name}_apply_bias")
        built.parameters[f"ff_biases_{index - 1}"] = (group, "c")
        built.rates[f"eta_ff_{index - 1}"] = (group, "eta")

    for index in range(1, n_layers + 1):
        _build_feedforward_synapses(built, clocks, index)


def _build_feedforward_synapses(built, clocks, index):
    spec = built.spec
    n_layers = len(spec.layers) - 1
    target = built.groups[f"ff_{index}"]
    name = f"Phi_{index}"
    if index == 1:
        synapses = _input_synapses(built, name, target,
                                   eq.input_feedforward_synapses(spec.accumulate),
                                   eq.FEEDFORWARD_INPUT_DRIVE,
                                   eq.feedforward_input_update(spec.accumulate))
    else:
        source = built.groups[f"ff_{index - 1}"]
        synapses = _synapses(built, name, source, target,
                             eq.feedforward_synapses(spec.global_loss and spec.plastic,
                                                     spec.accumulate),
                             clock=clocks["sample"])
        _connect(synapses, spec, f"ff_weights_{index - 1}")
        _place(synapses.summed_updaters["I_ff_post"], "present", _FEEDFORWARD + 2 * index - 1)
        if spec.plastic:
            if spec.global_loss:
                _place(synapses.summed_updaters["upstream_pre"], "learn",
                       2 * (n_layers - index) + 1)
            synapses.run_regularly(eq.feedforward_weight_update(spec.accumulate),
                                   clock=clocks["sample"], when="learn", order=_UPDATES,
                                   name=f"{name}_learn")
    if spec.accumulate:
        synapses.run_regularly(eq.apply_accumulated("phi"), clock=clocks["batch"],
                               when="learn", order=_APPLY, name=f"{name}_apply")
    built.parameters[f"ff_weights_{index - 1}"] = (synapses, "phi")


def _input_synapses(built, name, target, model, drive, update):
    """Create synapses from the input layer whose pathways run on its events.

    ``drive`` runs on the 'present' event of every non-zero pixel, ``update`` (when the
    network learns) on its 'learn' event.
    """
    import brian2 as b2

    on_pre = {"drive": drive}
    if built.spec.plastic:
        on_pre["plasticity"] = update
    slots = {"drive": "present", "plasticity": "learn"}
    synapses = _synapses(built, name, built.groups["inputs"], target, model, on_pre=on_pre,
                         on_event={path: slots[path] for path in on_pre},
                         delay={path: 0 * b2.ms for path in on_pre})
    synapses.connect()
    for path in on_pre:
        _place(getattr(synapses, path), slots[path], _PATHWAYS)
    return synapses


def _connect(synapses, spec, parameter):
    """Connect all to all in the order :func:`layout.parameter_order` gives ``parameter``."""
    pre, post = parameter_order(spec.layers, parameter)
    synapses.connect(i=pre, j=post)


def _build_layer_synapses(built, clocks):
    spec = built.spec
    n_layers = len(spec.layers) - 1
    for index in range(1, n_layers + 1):
        name = f"W_{index}"
        target = built.groups[f"layer_{index}"]
        if index == 1:
            synapses = _input_synapses(built, name, target, eq.input_synapses(spec.accumulate),
                                       eq.INPUT_DRIVE, eq.ep_input_update(spec.accumulate))
        else:
            source = built.groups[f"layer_{index - 1}"]
            synapses = _synapses(built, name, source, target,
                                 eq.layer_synapses(spec.accumulate), clock=clocks["step"])
            _connect(synapses, spec, f"weights_{index - 1}")
            if spec.plastic:
                synapses.run_regularly(eq.ep_weight_update(spec.accumulate),
                                       clock=clocks["sample"], when="learn", order=_UPDATES,
                                       name=f"{name}_learn")
        if spec.accumulate:
            synapses.run_regularly(eq.apply_accumulated("w"), clock=clocks["batch"],
                                   when="learn", order=_APPLY, name=f"{name}_apply")
        built.parameters[f"weights_{index - 1}"] = (synapses, "w")


def _build_readout(built, clocks):
    """Record, once per sample, s- of the output layer, s^f and the residual."""
    import brian2 as b2

    spec = built.spec
    n_layers = len(spec.layers) - 1
    sample = clocks["sample"]
    names = [f"residual_{index}" for index in range(1, n_layers + 1)]
    readout = _group(built, "readout", 1, "\n".join(f"{n} : 1" for n in names), sample)
    for index, variable in enumerate(names, start=1):
        synapses = _synapses(built, f"R_{index}", built.groups[f"layer_{index}"], readout,
                             f"{variable}_post = residual_pre : 1 (summed)")
        synapses.connect()
        _place(synapses.summed_updaters[f"{variable}_post"], "readout", 0)
    monitor_args = {"record": True, "clock": sample, "when": "readout", "order": 1}
    output = built.groups[f"layer_{n_layers}"]
    built.monitors["s_minus"] = b2.StateMonitor(output, "s_minus", name="output_monitor",
                                                **monitor_args)
    built.monitors["residual"] = b2.StateMonitor(readout, names, name="residual_monitor",
                                                 **monitor_args)
    if spec.initialized:
        built.monitors["sf"] = b2.StateMonitor(built.groups[f"ff_{n_layers}"], "sf",
                                               name="feedforward_monitor", **monitor_args)


def _build_state_monitors(built, clocks):
    """Record every state at the start of every step (after a sample's initial state is set)."""
    import brian2 as b2

    n_layers = len(built.spec.layers) - 1
    for index in range(1, n_layers + 1):
        built.monitors[f"s_{index}"] = b2.StateMonitor(
            built.groups[f"layer_{index}"], "s", record=True, clock=clocks["step"],
            when="start", order=10, name=f"state_monitor_{index}")
