/// walaudit's version: `walaudit --version` and the metric `walaudit_build_info`.
public let walauditVersion = "0.1.0-dev"
