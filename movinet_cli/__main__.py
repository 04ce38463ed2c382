from movinet_cli.cli import main

main()
