"""Integrations with other training libraries, each imported only when used.

    sorting.py  the sorting task as text, for language models: a datasets.Dataset and reward functions
    trl.py      attach(trainer, path): watch and steer a TRL GRPOTrainer run with grpotui

Nothing here is imported by `import grpotui`; `grpotui.integrations.trl` needs `pip install "grpotui[trl]"`.
"""
