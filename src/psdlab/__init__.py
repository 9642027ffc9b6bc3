"""psdlab: neural pulse-shape discrimination and energy regression on HPGe detector waveforms."""

__version__ = "0.1.0"
