// The client entry point (see pages/).
