"""What each PSD cut is meant to find, from the simulated truth of the evaluated events.

The labels are classical cuts, so judging a network against them only measures how well it
reproduces the cut; the truth says what the cut is *meant* to find, so a network can be seen
to beat the classical cut rather than reproduce it. Real data has no truth and gets no truth
section. The truth datasets (``truth/single_site``, ``truth/event_class``,
``truth/surface_alpha``) and the event classes are those the simulator writes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# the truth datasets a report looks for; any of them present means simulated data
TRUTH_FIELDS = ("single_site", "event_class", "surface_alpha")


def truth_signal(target: str, meta: Mapping[str, np.ndarray]) -> tuple[np.ndarray, str] | None:
    """True signal-like (True) vs background for ``target`` from simulated truth, or None."""
    # the simulator's event classes, imported only when there is truth to read
    from psdlab.simulate import EventClass

    cls = meta.get("event_class")
    if target == "low_avse" and "single_site" in meta:
        return np.asarray(meta["single_site"], bool), "truth single_site (vs multi-site)"
    if target == "high_avse" and cls is not None:
        return np.asarray(cls) != EventClass.POINT_CONTACT, "truth not POINT_CONTACT"
    if target == "dcr" and "surface_alpha" in meta:
        return ~np.asarray(meta["surface_alpha"], bool), "truth not surface_alpha"
    if target == "lq" and cls is not None:
        return np.asarray(cls) != EventClass.SLOW_LQ, "truth not SLOW_LQ"
    return None
