from mlayer.cli import main

main()
