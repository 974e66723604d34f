print("sim-bench placeholder")
