from hazardwatch.shell.cli import main

main()
