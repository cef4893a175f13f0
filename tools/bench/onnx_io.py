"""Python onnx side of razor's io benchmark: onnx.load and onnx.save of the same file.

Prints one JSON line per phase, each measured in a fresh process (peak RSS from getrusage).
"""
import json
import resource
import sys
import time

import onnx

phase, path = sys.argv[1], sys.argv[2]
start = time.perf_counter()
model = onnx.load(path)
loaded = time.perf_counter()
if phase == 'save':
    onnx.save(model, path + '.python.onnx')
end = time.perf_counter()
milliseconds = (loaded - start if phase == 'load' else end - loaded) * 1000
print(json.dumps({'phase': phase, 'ms': milliseconds, 'maxRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, 'onnx': onnx.__version__}))
