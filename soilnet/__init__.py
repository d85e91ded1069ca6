"""SoilNet study: soil organic carbon across Europe from Landsat-8 patches and TerraClimate.

A thin package behind the study's Jupyter Book: readers for the real on-disk layout and a
synthetic twin (:mod:`soilnet.io`, :mod:`soilnet.synthetic`), consolidation and splits
(:mod:`soilnet.store`, :mod:`soilnet.splits`), the hybrid model (:mod:`soilnet.models`),
training (:mod:`soilnet.trainer`), metrics and baselines, maps and plots.
"""

__version__ = "0.1.0"
