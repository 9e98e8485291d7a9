from setuptools import find_packages, setup

setup(
    name='focal_det',
    version='0.1.0',
    description='Class-imbalance losses (focal, dual focal, class-balanced) '
    'and tools for MMDetection 3.x',
    packages=find_packages(include=['focal_det', 'focal_det.*']),
    python_requires='>=3.8',
    # torch and mmcv are installed first (see the Makefile / README): mmcv
    # has to be compiled against the torch already present.
    install_requires=['mmengine>=0.10.0', 'mmdet>=3.0.0,<3.4'],
)
