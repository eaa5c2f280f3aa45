print("effdx")
