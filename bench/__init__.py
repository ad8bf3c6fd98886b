"""The performance benchmark (`python -m bench`): ours against the stock LangChain recipe, start-up, our costs, growth.

`run` is the main path; each measurement that needs a process of its own (`bot ask`, `bot serve`,
an eval pass, the phases of start-up) runs one, so its time and peak memory are its own.
"""
