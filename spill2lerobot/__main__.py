from spill2lerobot.cli import main

main()
