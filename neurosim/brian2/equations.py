"""The model as Brian2 text: neuron equations, synaptic drive and the plasticity code.

Every string the Brian2 engine hands to Brian2 is built here, so the whole model reads in
one place. Symbols follow :mod:`neurosim.dynamics`: layer ``l`` has the states ``s`` of
``s_l``; ``W_l`` (synaptic variable ``w``) couples layer ``l-1`` to layer ``l``; ``b`` is
the bias ``b_l``; the feedforward population has ``u = Phi_l^T s^f_{l-1} + c_l`` and
``sf = h(u)``. Time is in units of tau (``tau = 1 ms`` in Brian2 units), and
``rho(s) = clip(s, 0, 1)``.

A neuron of layer ``l`` integrates::

    tau ds/dt = -s + rho'(s) (b + I_up + I_down) + I_couple + I_nudge

    I_up     = W_l^T rho(s_{l-1})        drive from below (W_1^T x for the first layer)
    I_down   = W_{l+1} rho(s_{l+1})      drive from above (absent in the output layer)
    I_couple = 2 lambda (s^f - s)        coupling to the feedforward states (lambda > 0)
    I_nudge  = beta (y - s)              nudging current, output layer, positive phase only

which is ``ds/dt = -dF/ds`` of :func:`neurosim.dynamics.total_energy`. States are clipped
to [0, 1] after every step, so ``rho(s) = s`` and ``rho'(s) = 1`` at every step boundary:
the firing rate ``rate`` that synapses read is ``s`` itself. Brian2 sums the synaptic
currents once per step, and ``rho'(s)`` is evaluated once per step as well, so the
intermediate stages of the rk2 and rk4 methods see constant input currents.
"""

from ..dynamics import LEAK_SLOPE

__all__ = [
    "LEAK_SLOPE",
    "layer_equations",
    "layer_events",
    "feedforward_equations",
    "CLIP_STATE",
    "init_state",
    "STORE_LAST",
    "STORE_MINUS",
    "INPUT_EQUATIONS",
    "INPUT_EVENTS",
    "INPUT_DRIVE",
    "FEEDFORWARD_INPUT_DRIVE",
    "LOAD_INPUT",
    "LOAD_TARGET",
    "FEEDFORWARD_OUTPUT",
    "feedforward_delta",
    "input_synapses",
    "layer_synapses",
    "input_feedforward_synapses",
    "feedforward_synapses",
    "EP_DELTA",
    "ep_bias_update",
    "ep_input_update",
    "ep_weight_update",
    "feedforward_bias_update",
    "feedforward_input_update",
    "feedforward_weight_update",
    "apply_accumulated",
]


# --- equilibrating network -------------------------------------------------------------

def layer_equations(first, last, coupled, linked_sf, accumulate):
    """Return the equations of one layer of the equilibrating network.

    Parameters
    ----------
    first : bool
        The layer receives the input drive ``W_1^T x`` (it is set once per sample into
        ``I_up``, not summed every step).
    last : bool
        The output layer: it has no drive from above and receives the nudging current.
    coupled : bool
        Add the coupling current ``2 lambda (s^f - s)``.
    linked_sf : bool
        Link ``sf`` to the feedforward population (for the coupling or the initial state).
    accumulate : bool
        Add the variable ``db`` that collects bias updates over a minibatch.
    """
    drive = "b + I_up" if last else "b + I_up + I_down"
    external = ""
    if coupled:
        external += " + I_couple"
    if last:
        external += " + I_nudge"
    lines = [
        f"ds/dt = (-s + rho_prime * ({drive}){external}) / tau : 1",
        "rho_prime = int(s >= 0 and s <= 1) : 1 (constant over dt)  # rho'(s)",
        # rho(s) = s: synapses and plasticity read states only between steps, when they
        # have been clipped to [0, 1].
        "rate = s : 1  # rho(s)",
        "rate_minus = s_minus : 1  # rho(s-)",
        "b : 1  # bias",
        "I_up : 1  # W_l^T rho(s_{l-1}); W_1^T x for the first layer",
        "s_minus : 1  # state at the end of the negative phase",
        "s_last : 1  # state one step before the end of the negative phase",
        "residual : 1  # |ds/dt| at the last step of the negative phase",
        "ep_delta : 1  # rho(s+) - rho(s-) of the sample that has just ended",
        "eta : 1 (shared)  # learning rate of W_l and b_l",
    ]
    if not last:
        lines.append("I_down : 1  # W_{l+1} rho(s_{l+1})")
    if linked_sf:
        lines.append("sf : 1 (linked)  # feedforward state s^f of this layer")
    if coupled:
        lines += [
            "I_couple = 2 * coupling * (sf - s) : 1",
            "coupling : 1 (shared)  # lambda",
        ]
    if last:
        lines += [
            "I_nudge = beta * positive_phase * (y - s) : 1",
            "positive_phase = int(t_in_timesteps % steps_per_sample >= steps_minus) : 1",
            "y : 1  # target",
            "beta : 1 (shared)  # signed nudging strength of the current sample",
        ]
    if accumulate:
        lines.append("db : 1  # bias updates summed over the minibatch")
    return "\n".join(lines)


def layer_events():
    """Return the custom events of the last step of the negative phase.

    Both fire on the same step: ``last_step`` is handled before the step is integrated
    (storing ``s_last``), ``settled`` after it (storing ``s-`` and the residual).
    """
    condition = "t_in_timesteps % steps_per_sample == steps_minus - 1"
    return {"last_step": condition, "settled": condition}


#: Keeps states in [0, 1] after every integration step.
CLIP_STATE = "s = clip(s, 0, 1)"
#: At the start of the last negative step: the state before it.
STORE_LAST = "s_last = s"
#: At the end of the last negative step: s- and |ds/dt| (dt in units of tau).
STORE_MINUS = "s_minus = s\nresidual = abs(s - s_last) / dt_tau"


def init_state(from_feedforward):
    """Return the code that starts the negative phase: ``clip(s^f)`` or zero."""
    return "s = clip(sf, 0, 1)" if from_feedforward else "s = 0"


#: The clamped input layer. It emits one 'present' event per non-zero pixel when a sample
#: starts, and one 'learn' event per non-zero pixel when the sample's learning runs.
INPUT_EQUATIONS = "x : 1"
INPUT_EVENTS = {"present": "x != 0", "learn": "x != 0"}
LOAD_INPUT = "x = x_values(t, i)"
LOAD_TARGET = "beta = beta_values(t)\ny = y_values(t, i)"


# --- feedforward population ----------------------------------------------------------------

def feedforward_equations(global_loss, accumulate):
    """Return the equations of one layer of the feedforward population."""
    lines = [
        "I_ff : 1  # Phi_l^T s^f_{l-1}",
        "u : 1  # pre-activation",
        "sf : 1  # state h(u)",
        "c : 1  # bias",
        "delta : 1  # dL/du: (s^f - s-) h'(u), plus upstream errors for the global loss",
        "s_target : 1 (linked)  # s- of the same layer of the equilibrating network",
        "eta : 1 (shared)  # learning rate of Phi_l and c_l",
    ]
    if global_loss:
        lines.append("upstream : 1  # error backpropagated from the layers above")
    if accumulate:
        lines.append("dc : 1  # bias updates summed over the minibatch")
    return "\n".join(lines)


#: s^f_l = h(Phi_l^T s^f_{l-1} + c_l), h(u) = rho(u) + 0.01 u.
FEEDFORWARD_OUTPUT = f"u = I_ff + c\nsf = clip(u, 0, 1) + {LEAK_SLOPE!r} * u"


def feedforward_delta(global_loss):
    """Return the code computing ``delta = dL/du`` of a feedforward layer."""
    error = "sf - s_target + upstream" if global_loss else "sf - s_target"
    return f"delta = ({error}) * (int(u >= 0 and u <= 1) + {LEAK_SLOPE!r})"


# --- synapses ------------------------------------------------------------------------------

def input_synapses(accumulate):
    """Return the model of ``W_1`` (input to first layer)."""
    return "w : 1" + ("\ndw : 1" if accumulate else "")


def layer_synapses(accumulate):
    """Return the model of ``W_l``, l >= 2: forward drive and symmetric feedback."""
    model = ("w : 1\n"
             "I_up_post = w * rate_pre : 1 (summed)\n"
             "I_down_pre = w * rate_post : 1 (summed)")
    return model + ("\ndw : 1" if accumulate else "")


def input_feedforward_synapses(accumulate):
    """Return the model of ``Phi_1`` (input to first feedforward layer)."""
    return "phi : 1" + ("\ndphi : 1" if accumulate else "")


def feedforward_synapses(global_loss, accumulate):
    """Return the model of ``Phi_l``, l >= 2."""
    model = "phi : 1\nI_ff_post = phi * sf_pre : 1 (summed)"
    if global_loss:
        model += "\nupstream_pre = phi * delta_post : 1 (summed)"
    return model + ("\ndphi : 1" if accumulate else "")


#: Input drive, once per sample: one event per non-zero pixel.
INPUT_DRIVE = "I_up_post += w * x_pre"
FEEDFORWARD_INPUT_DRIVE = "I_ff_post += phi * x_pre"


# --- plasticity ------------------------------------------------------------------------------
# ``inv_beta_values(t)`` is 1 / beta of the sample that just ended (0 where nothing is to be
# learned), ``learn_values(t)`` is 1 or 0 likewise. With minibatches the increments go to
# ``dw``, ``db``, ``dphi``, ``dc`` and are applied every ``batch_size`` samples.

def _update(target, increment, accumulate):
    return f"d{target} += {increment}" if accumulate else f"{target} += {increment}"


#: The postsynaptic factor of the EP rule for W_1 and b_l, computed once per neuron.
EP_DELTA = "ep_delta = rate - rate_minus"


def ep_input_update(accumulate):
    """dW_1 = (eta / beta) x (rho(s+_1) - rho(s-_1)), for one non-zero pixel."""
    return _update("w", "eta_post * inv_beta_values(t) * x_pre * ep_delta_post", accumulate)


def ep_weight_update(accumulate):
    """dW_l = (eta / beta) (rho(s+_{l-1}) rho(s+_l) - rho(s-_{l-1}) rho(s-_l))."""
    return _update("w", "eta_post * inv_beta_values(t) * (rate_pre * rate_post "
                        "- rate_minus_pre * rate_minus_post)", accumulate)


def ep_bias_update(accumulate):
    """db_l = (eta / beta) (rho(s+_l) - rho(s-_l))."""
    return _update("b", "eta * inv_beta_values(t) * ep_delta", accumulate)


def feedforward_input_update(accumulate):
    """dPhi_1 = -eta_f x delta_1, for one non-zero pixel."""
    return _update("phi", "-eta_post * learn_values(t) * x_pre * delta_post", accumulate)


def feedforward_weight_update(accumulate):
    """dPhi_l = -eta_f s^f_{l-1} delta_l."""
    return _update("phi", "-eta_post * learn_values(t) * sf_pre * delta_post", accumulate)


def feedforward_bias_update(accumulate):
    """dc_l = -eta_f delta_l."""
    return _update("c", "-eta * learn_values(t) * delta", accumulate)


def apply_accumulated(name):
    """Return the code adding the mean of a minibatch's updates to ``name``."""
    return f"{name} += d{name} / batch_size\nd{name} = 0"
