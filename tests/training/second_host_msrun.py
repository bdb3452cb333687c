"""msrun as it runs on a second host, for simulating two nodes on one machine.

msrun starts its scheduler on the node whose local addresses include ``--master_addr``. Both
simulated nodes share 127.0.0.1, so node 1 would start a second scheduler on the same port; on a
real second host that check is false, and this launcher makes it false. Everything else is
msrun's own code: ``python second_host_msrun.py <msrun arguments>``.
"""

import sys

import mindspore.parallel.cluster.process_entity._api as msrun_api
from mindspore.parallel.cluster.run import main

msrun_api._is_local_ip = lambda address: False

if __name__ == "__main__":
    sys.argv = ["msrun", *sys.argv[1:]]
    sys.exit(main())
