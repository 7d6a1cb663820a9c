"""The whole paper on the embedded default in one command (`python -m demo`), and the CPU demo datasets it
trains on (`python -m demo.datasets`): the stages of data_gen, recipes/ and eval called in order."""
