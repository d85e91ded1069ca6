"""SoilNet study: soil organic carbon across Europe from Landsat-8 patches and TerraClimate.

A thin package behind the study's Jupyter Book: settings and the workspace
(:mod:`soilnet.config`, :mod:`soilnet.workspace`), readers for the real on-disk layout and a
synthetic twin (:mod:`soilnet.io`, :mod:`soilnet.twin`), consolidation and splits
(:mod:`soilnet.store`, :mod:`soilnet.splits`), the hybrid model (:mod:`soilnet.models`),
training (:mod:`soilnet.trainer`), the chapters' runs and tables (:mod:`soilnet.experiment`,
:mod:`soilnet.reporting`), metrics and baselines, maps and plots (:mod:`soilnet.plotting`).
The book's page "How the code is organised" (``book/code-organisation.md``) shows how they fit.
"""

__version__ = "0.1.0"
