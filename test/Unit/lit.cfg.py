# lit configuration of ftc's GoogleTest unit tests: each TEST is one lit test.
import os

import lit.formats

config.name = "ftc-unit"
config.suffixes = []
config.test_source_root = os.path.join(config.ftc_obj_root, "test", "Unit")
config.test_exec_root = config.test_source_root
config.test_format = lit.formats.GoogleTest(".", "Tests")
