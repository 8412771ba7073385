# A made-up converter, written for the extractor's tests: the shapes of add_argument() calls
# that release scripts use (aliases, switches, literal and computed choices, nargs, required),
# spread over two functions, plus a parallelism assert.
import argparse
from enum import Enum


class Source(str, Enum):
    local = "local"
    remote = "remote"


def common(parser):
    parser.add_argument("--model-dir", "--model_dir", type=str, required=True)
    parser.add_argument("--workers", type=int, default=1, help="threads")


def parse_arguments():
    parser = argparse.ArgumentParser()
    common(parser)
    parser.add_argument("--tp_size", type=int, default=1)
    parser.add_argument("--pp_size", type=int, default=1)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float16", "bfloat16"])
    parser.add_argument("--precision", const="int8", nargs="?", choices=("int8", "int4", None))
    parser.add_argument("--source", type=Source, choices=list(Source))
    parser.add_argument("--scale", "-s", type=float)
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--names", nargs="+", type=str)
    parser.add_argument("positional_input")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_arguments()
    assert args.pp_size == 1, "no pipeline parallelism"
