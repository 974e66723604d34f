print("grapevine-sim")
