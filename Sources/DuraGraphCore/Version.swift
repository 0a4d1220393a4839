public let duragraphVersion = "0.1.0"
