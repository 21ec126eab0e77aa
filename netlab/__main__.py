from netlab.client import main

main()
