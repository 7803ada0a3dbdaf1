"""The fusion stage: multistage SVR fusion of the selected runs' predictions.

``stages`` runs both protocols as a chain of parts and stages; ``solver`` is the SSNAL solver of
every fit; ``avec`` is the faithful AVEC 2019 mode.
"""
